// Makes the embedded store's template (see store/embedded-template.ts): PGlite's
// initdb and the store's migrations, run once here instead of in every new
// gateway, demo and test. Part of `npm run build`; does nothing when the
// template for the installed PGlite and the current migrations is there, and
// removes the templates it replaces.
import { existsSync } from 'node:fs'
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createEmbedded, embeddedDatabase } from '../store/database.js'
import { templateName } from '../store/embedded-template.js'
import { migrate } from '../store/migrate.js'

const DIST = path.resolve(import.meta.dirname, '..', 'dist')

const name = await templateName()
const file = path.join(DIST, name)
if (!existsSync(file)) {
  const pglite = await createEmbedded()
  await migrate(embeddedDatabase(pglite))
  const dump = await pglite.dumpDataDir('gzip')
  await pglite.close()
  await mkdir(DIST, { recursive: true })
  await writeFile(`${file}.tmp`, new Uint8Array(await dump.arrayBuffer()))
  await rename(`${file}.tmp`, file)
  for (const old of await readdir(DIST)) if (/^pglite-.*\.tar\.gz$/.test(old) && old !== name) await rm(path.join(DIST, old))
  console.log(`wrote ${path.relative(process.cwd(), file)}`)
}
