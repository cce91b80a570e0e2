// The SQL classifier: what a statement sent through the PostgreSQL proxy does,
// as the operations a policy decides on. Pure: no I/O beyond loading the parser.
export { loadSqlParser, isSqlParserLoaded } from './parser.js'
export { classifySql, createSqlSession, DEFAULT_MAX_SQL_BYTES, type ClassifyOptions } from './classify.js'
export { createSqlClassifier, type SqlClassifier, type SqlClassifierOptions } from './classifier.js'
export { SQL_ERROR_CODES, type SqlErrorCode } from './errors.js'
export { dangerousFunction, type DangerousFunction } from './dangerous-functions.js'
export { outputLineage, splitLineageSource, type LineageItem, type LineageOptions, type LineageResult, type StatementLineage } from './lineage.js'
