// What unbounded buffering in this process would grow: the heap and the
// memory outside it (buffers). Not the resident size, which includes the
// code space V8 takes at times for optimised WebAssembly (Node.js 24 holds
// hundreds of MB of it for a while, whatever the test does).
export function heldBytes(): number {
  const { heapUsed, external } = process.memoryUsage()
  return heapUsed + external
}
