// Prints the SQL that `prisma migrate diff --from-empty --to-schema <schema> --script`
// produces for PostgreSQL, computed by Prisma's own schema engine (the Wasm build
// published as @prisma/schema-engine-wasm). Runs fully offline: the Prisma CLI
// would need a native schema-engine binary downloaded from outside the npm registry.
//
// Usage: node generate-migration.mjs [schema.prisma] > migration.sql
// Optional: SCHEMA_ENGINE_WASM=/path/to/schema_engine_bg.wasm selects another engine
// build with the same wasm-bindgen imports (e.g. node_modules/prisma/build/ of prisma@7.10.1).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import {
  bindMigrationAwareSqlAdapterFactory,
  mockMigrationAwareAdapterFactory,
} from '@prisma/driver-adapter-utils';

const require = createRequire(import.meta.url);
const schemaPath = path.resolve(process.argv[2] ?? 'schema.prisma');
const wasmPath =
  process.env.SCHEMA_ENGINE_WASM ??
  path.join(path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')), 'schema_engine_bg.wasm');

globalThis.PRISMA_WASM_PANIC_REGISTRY = {
  set_message(message) {
    process.stderr.write(`schema engine panic: ${message}\n`);
  },
};
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), { './schema_engine_bg.js': bg });
bg.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();

// The engine needs a driver adapter. On start-up it sends exactly one probe query
// (does schema "public" exist, server version); a from-empty diff sends nothing else.
// Answer the probe with a canned row so no database is needed.
const PROBE = /server_version_num/;
const factory = mockMigrationAwareAdapterFactory('postgres');
const connect = async () => {
  const adapter = await factory.connect();
  const fallback = adapter.queryRaw;
  adapter.queryRaw = async (query) => {
    if (PROBE.test(query.sql)) {
      return {
        columnNames: ['exists', 'version', 'numeric_version'],
        columnTypes: [5 /* Boolean */, 7 /* Text */, 0 /* Int32 */],
        rows: [[true, 'PostgreSQL 15.0', 150000]],
      };
    }
    return fallback(query);
  };
  return adapter;
};
const adapterFactory = bindMigrationAwareSqlAdapterFactory({ ...factory, connect, connectToShadowDb: connect });

const schema = fs.readFileSync(schemaPath, 'utf8');
const log = process.env.DEBUG_SCHEMA_ENGINE ? (line) => process.stderr.write(`${line}\n`) : () => {};
const engine = await bg.SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, log, adapterFactory);
const result = await engine.diff({
  from: { tag: 'empty' },
  to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] },
  script: true,
  exitCode: null,
  filters: { externalTables: [], externalEnums: [] },
});
process.stdout.write(result.stdout ?? '');
process.exitCode = result.exitCode;
