// Preloaded into a benchmarked process: reports its peak resident memory on exit.
process.on('exit', () => process.stderr.write(`\nmax-rss-bytes ${process.resourceUsage().maxRSS * 1024}\n`))
