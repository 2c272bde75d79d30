/**
 * The answer schemas describe what the read side (src/projections/queries.ts) returns without validating
 * it. `SameKeys` makes the compiler compare the two, so a field added to or dropped from one of them
 * breaks the type check until the document follows. (test/http/openapi.test.ts compares the values.)
 */
export type SameKeys<Schema, ReadSide> = [keyof Schema] extends [keyof ReadSide]
  ? [keyof ReadSide] extends [keyof Schema]
    ? true
    : { missingFromSchema: Exclude<keyof ReadSide, keyof Schema> }
  : { missingFromReadSide: Exclude<keyof Schema, keyof ReadSide> }
