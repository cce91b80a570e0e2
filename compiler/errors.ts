// Every finding the compiler can report, grouped by the stage that reports
// it. Codes are stable: tools and tests match on them, never on wording.

export const DIAGNOSTIC_CODES = {
  // load: reading files from a directory or a Git revision
  'load.not_found': 'the repository directory or revision does not exist',
  'load.too_large': 'a file is over the size limit',
  'load.too_many_files': 'the repository has more files than the limit',
  'load.too_many_findings': 'findings beyond the display cap',
  'load.symlink_outside': 'a symbolic link leads outside the repository',
  'load.binary': 'a policy file is not UTF-8 text',
  'load.unreadable': 'a file could not be read',
  // yaml: parsing
  'yaml.syntax': 'the file is not valid YAML',
  'yaml.duplicate_key': 'a mapping repeats a key',
  'yaml.alias_limit': 'the document expands too many aliases',
  'yaml.not_mapping': 'a document is not a mapping',
  // schema: JSON Schema validation of each kind
  'schema.unknown_kind': 'the document kind is not one Gatehouse knows',
  'schema.required': 'a required key is missing',
  'schema.unknown_key': 'a key is not part of the kind',
  'schema.type': 'a value has the wrong type',
  'schema.enum': 'a value is not one of the allowed values',
  'schema.pattern': 'a value does not have the required form',
  'schema.format': 'a value is not a valid date or time',
  'schema.range': 'a number or length is out of range',
  'schema.duplicate_item': 'a list repeats an item',
  'schema.shape': 'a value does not have any of the allowed shapes',
  'schema.invalid': 'a value is invalid',
  // secret: secrets must be references
  'secret.inline': 'a secret is written into the repository',
  // ref: names and references across files
  'ref.missing_settings': 'the repository has no gatehouse.yaml',
  'ref.duplicate_settings': 'more than one Settings document',
  'ref.duplicate_name': 'two documents of one kind share a name',
  'ref.duplicate_rule': 'two rules of a policy share a name',
  'ref.unknown_identity': 'a reference names an identity that does not exist',
  'ref.unknown_role': 'a reference names a role no identity has',
  'ref.unknown_resource': 'a reference names a resource that does not exist',
  'ref.selector_matches_nothing': 'a label selector matches no resource',
  'ref.rule_kind_mismatch': 'a rule targets a resource type the policy does not cover',
  'ref.mask_on_ssh_only': 'a column mask in a policy that covers no PostgreSQL resource',
  // credential: credentials that are valid YAML but unsafe or unusable
  'credential.unpinned_binding': 'a workload identity binding that any workload of its issuer could satisfy',
  'credential.overlapping_bindings': 'one workload identity token could select two identities',
  'credential.rotation_mismatch': 'two token verifiers of an identity cannot be checked in one SCRAM exchange',
  // cel: conditions
  'cel.syntax': 'a condition is not valid CEL',
  'cel.too_complex': 'a condition exceeds the size or nesting limits',
  'cel.unknown_variable': 'a condition uses an undeclared variable',
  'cel.unknown_field': 'a condition uses a field its variable does not have',
  'cel.no_matching_overload': 'a condition applies an operator or function to the wrong types',
  'cel.not_bool': 'a condition does not produce a bool',
  'cel.invalid_regex': 'a regular expression is not valid RE2',
  'cel.type_error': 'a condition does not type-check',
  // pattern: exec, path and forwarding patterns
  'pattern.invalid': 'an SSH pattern is malformed',
  // lint: legal but probably wrong
  'lint.shadowed_rule': 'a rule can never decide because an earlier or stricter rule covers it',
  'lint.unused_role': 'a role that no policy uses',
  'lint.missing_expiry': 'an identity has no expiry although the settings require one',
  'lint.expired_identity': 'an identity has expired',
  'lint.expiring_identity': 'an identity expires within the warning window of the settings',
  'lint.untested_rule': 'no test case exercises a rule',
  'lint.broad_binding': 'a workload identity binding admits more than one workload',
  // test: `gatehouse test`
  'test.failed': 'a test case did not get the expected decision',
  'test.invalid_request': 'a test case request cannot be classified',
  'test.coverage': 'rule coverage is below the required minimum',
} as const

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES
