// The SSH classifier: what an SSH channel request does, as the operations a
// policy decides on, and the patterns rules match them with. Pure: no I/O.
export { classifySsh, classifyExec, sftpOperation, recognizeTransfer, type SshChannelRequest, type SshClassification, type SshClassifyOptions, type Transfer } from './classify.js'
export { shellWords, DEFAULT_MAX_COMMAND_LENGTH, type ShellWordsResult, type ShellWordsOptions, type ShellSyntax, type ShellConstruct } from './shell-words.js'
export { quoteArgv, quoteWord } from './quote.js'
export { compileExecPattern, compilePathPattern, compileForwardPattern, compileListenPattern, MAX_PATTERN_LENGTH, type ExecMatcher, type PathMatcher, type ForwardMatcher, type PatternResult } from './patterns.js'
export { normalizePath, DEFAULT_MAX_PATH_LENGTH } from './paths.js'
export { formatTarget, listenHost, normalizeHost, parseTarget } from './hosts.js'
export { SSH_ERROR_CODES, PATTERN_ERROR_CODES, type SshError, type SshErrorCode, type PatternError, type PatternErrorCode } from './errors.js'
