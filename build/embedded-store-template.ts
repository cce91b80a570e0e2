// Makes the embedded store's template (see store/embedded-template.ts): PGlite's
// initdb, run once here instead of in every new gateway, demo and test. Part
// of `npm run build`; does nothing when the template for the installed PGlite
// version is already there.
import { existsSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { pgliteVersion, templateName } from '../store/embedded-template.js'

const DIST = path.resolve(import.meta.dirname, '..', 'dist')

const file = path.join(DIST, templateName(await pgliteVersion()))
if (!existsSync(file)) {
  const db = await PGlite.create()
  const dump = await db.dumpDataDir('gzip')
  await db.close()
  await mkdir(DIST, { recursive: true })
  await writeFile(`${file}.tmp`, new Uint8Array(await dump.arrayBuffer()))
  await rename(`${file}.tmp`, file)
  console.log(`wrote ${path.relative(process.cwd(), file)}`)
}
