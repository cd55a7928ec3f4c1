import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** A fixture of ../fixtures, parsed. */
export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(here, '..', 'fixtures', name), 'utf8')) as T;
}

export function readText(rel: string): string {
  return readFileSync(join(here, '..', rel), 'utf8');
}
