import { parseFile } from './compiler/parse.ts'
const cases = ['name: a\nroles: [deployer, analyst\nlabels: {}\n', 'name: "abc\nroles: []\n', 'name: a\nlabels: {a: b\nroles: []\n', "a: 'x\nb: c\n", 'a: [1, {b: 2]\nc: d\n', 'a: b\n  c: d\n']
for (const text of cases) console.log(JSON.stringify(text), JSON.stringify(parseFile({ path: 'x.yaml', text }).diagnostics.map(d => [d.line, d.col, d.message])))
