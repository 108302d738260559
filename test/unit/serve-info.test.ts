import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readServeInfo, type ServeInfo, writeServeInfo } from '#cli/data-dir';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const infoIn = (dataDir: string, pid = process.pid): ServeInfo => ({
  pid,
  apiUrl: 'http://127.0.0.1:1/',
  dynamodbEndpoint: 'http://127.0.0.1:2',
  sfnEndpoint: 'http://127.0.0.1:3',
  tableName: 'parl',
  region: 'us-east-1',
  dataDir,
  startedAt: '2026-12-06T00:00:00.000Z',
});

const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'parl-serve-info-'));
  dirs.push(dir);
  return dir;
};

describe('serve.json', () => {
  it('is replaced whole by a rename, leaving no temporary file, and reads back', () => {
    const dir = freshDir();
    writeServeInfo(infoIn(dir));
    const first = statSync(join(dir, 'serve.json')).ino;
    writeServeInfo({ ...infoIn(dir), apiUrl: 'http://127.0.0.1:4/' });
    // Written in place, the file would keep its inode; renamed over, it is a new file.
    expect(statSync(join(dir, 'serve.json')).ino).not.toBe(first);
    expect(readdirSync(dir)).toEqual(['serve.json']);
    expect(readServeInfo(dir)?.apiUrl).toBe('http://127.0.0.1:4/');
  });

  it('is taken for no server when half written or when its process is gone', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'serve.json'), '{"pid": 1');
    expect(readServeInfo(dir)).toBeUndefined();
    writeServeInfo(infoIn(dir, 2 ** 22 + 7));
    expect(readServeInfo(dir)).toBeUndefined();
    expect(readServeInfo(freshDir())).toBeUndefined();
  });
});
