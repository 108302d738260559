import { describe, expect, it } from 'vitest';
import { defaultResolver, localFunctionArn, renderDefinition, stateMachineAsl } from '#cdk/asl';

const machine = (definition: unknown) => ({
  Type: 'AWS::StepFunctions::StateMachine',
  Properties: { DefinitionString: definition },
});

describe('stateMachineAsl', () => {
  it('joins the DefinitionString parts, standing in local ARNs for functions', () => {
    // Prepare
    const template = {
      Resources: {
        Fn1: { Type: 'AWS::Lambda::Function' },
        Machine: machine({
          'Fn::Join': [
            '',
            [
              '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
              { 'Fn::GetAtt': ['Fn1', 'Arn'] },
              '","End":true}}}',
            ],
          ],
        }),
      },
    };
    // Act
    const asl = stateMachineAsl(template);
    // Assess
    expect(asl.States.A?.Resource).toBe(localFunctionArn('Fn1'));
  });

  it('takes a custom resolver', () => {
    const template = {
      Resources: { M: machine({ 'Fn::Join': ['', ['{"StartAt":"', { Ref: 'X' }, '","States":{}}']] }) },
    };
    expect(stateMachineAsl(template, () => 'Start').StartAt).toBe('Start');
  });

  it('reads a plain-string DefinitionString as is', () => {
    const template = { Resources: { M: machine('{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}') } };
    expect(stateMachineAsl(template).States).toEqual({ A: { Type: 'Succeed' } });
  });

  it.each([
    [{}, /found 0/],
    [{ Resources: { A: machine('{}'), B: machine('{}') } }, /found 2/],
  ])('refuses a template without exactly one state machine', (template, message) => {
    expect(() => stateMachineAsl(template)).toThrow(message);
  });

  it('picks a state machine by logical id', () => {
    const template = {
      Resources: { A: machine('{"StartAt":"a","States":{}}'), B: machine('{"StartAt":"b","States":{}}') },
    };
    expect(stateMachineAsl(template, defaultResolver, 'B').StartAt).toBe('b');
  });
});

describe('defaultResolver', () => {
  it.each([
    [{ Ref: 'AWS::Partition' }, 'aws'],
    [{ Ref: 'AWS::Region' }, 'local'],
    [{ Ref: 'AWS::AccountId' }, '000000000000'],
    [{ Ref: 'SomeParameter' }, 'SomeParameter'],
    [{ 'Fn::GetAtt': ['Fn1', 'Arn'] }, 'arn:aws:lambda:local:000000000000:function:Fn1'],
  ])('resolves %j to %s', (intrinsic, expected) => {
    expect(defaultResolver(intrinsic)).toBe(expected);
  });

  it('refuses an intrinsic it cannot stand in for', () => {
    expect(() => defaultResolver({ 'Fn::ImportValue': 'X' })).toThrow(/Cannot resolve/);
  });
});

describe('renderDefinition', () => {
  it('renders nested joins', () => {
    expect(renderDefinition({ 'Fn::Join': ['', ['a', { 'Fn::Join': ['-', ['b', { Ref: 'c' }]] }]] })).toBe(
      'ab-c',
    );
  });

  it('refuses a shape it does not know', () => {
    expect(() => renderDefinition(42)).toThrow(/Unexpected DefinitionString/);
  });
});
