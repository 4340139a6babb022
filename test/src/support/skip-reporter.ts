/**
 * A `node --test` reporter that writes one JSON line per skipped test ({ name, reason, file }) and per
 * failing `todo` test (a known failure: { name, reason, file, todo: true }) to its destination.
 * `run-tests.js` adds it beside the usual reporter and reads the file when the run ends, to say in one line
 * what was skipped and why, and in another which known failures ran (node counts them as passes).
 */

interface TestEvent {
  readonly type: string;
  readonly data?: {
    readonly name?: string;
    readonly file?: string;
    readonly skip?: string | boolean;
    readonly todo?: string | boolean;
    readonly details?: { readonly type?: string };
  };
}

async function* skipReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    const data = event.data;
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || data === undefined) continue;
    if (data.details?.type === 'suite') continue;
    if (event.type === 'test:fail' && data.todo !== undefined && data.todo !== false) {
      const reason = typeof data.todo === 'string' && data.todo !== '' ? data.todo : '(no reason given)';
      yield `${JSON.stringify({ name: data.name ?? '?', reason, file: data.file ?? null, todo: true })}\n`;
      continue;
    }
    if (data.skip === undefined || data.skip === false) continue;
    const reason = typeof data.skip === 'string' && data.skip !== '' ? data.skip : '(no reason given)';
    yield `${JSON.stringify({ name: data.name ?? '?', reason, file: data.file ?? null })}\n`;
  }
}

// node --test loads a reporter with import() and takes the module's default export, which for CommonJS is
// module.exports itself: the function must be the whole export, not a property of it.
export = skipReporter;
