/** Pulls the first JSON object out of a model's reply (models sometimes wrap it in prose or fences). */
export function extractJsonObject(text: string): unknown {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new SyntaxError('no JSON object in the reply');
  return JSON.parse(text.slice(start, end + 1));
}
