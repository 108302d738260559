/**
 * Imported first by the local entry points (`parl`, the benches): the X-Ray SDK that Powertools
 * Tracer loads starts in manual mode outside Lambda. In its default (automatic) mode it enables an
 * async hook with destroy tracking (cls-hooked) at import, which every promise of the process then
 * pays for (a tenth of a local job's CPU with 100 sub-agents), although the tracer is switched off
 * outside Lambda and never reads that context. In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) nothing changes.
 */
if (!process.env.AWS_LAMBDA_FUNCTION_NAME) process.env.AWS_XRAY_MANUAL_MODE ??= 'true';

export {};
