// How the web page splits a file into tus partial uploads that the server writes straight into the
// final object (clipjury/uploads/concat.py): each piece but the last is a whole number of the store's
// parts and no two pieces have the same length, so the server tells each partial's place from its
// Upload-Length. The pieces' lengths (concat_layout) and a random concat_group go with every partial.
// (clipjury/uploads/tus_client.py declared_split does the same for scripts.)

// [{start, end}] for tus-js-client's parallelUploadBoundaries, or null: one upload (a small file).
export function planPieces (size, parallel, partSize) {
  for (let count = parallel; count >= 2; count--) {
    // Pieces of base+1, base, base-1, ... parts and the rest, for the base nearest an even split that
    // makes the rest differ from the others (a size of an exact number of parts needs another base).
    let best = null
    for (const shift of [0, -1, 1, -2, 2]) {
      const base = Math.round(size / count / partSize) + shift
      const lengths = Array.from({ length: count - 1 }, (_, i) => (base + 1 - i) * partSize)
      const last = size - lengths.reduce((sum, n) => sum + n, 0)
      lengths.push(last)
      if (lengths[count - 2] < partSize || last <= 0 || new Set(lengths).size !== count) continue
      const spread = Math.max(...lengths) - Math.min(...lengths)
      if (best === null || spread < best.spread) best = { lengths, spread }
    }
    if (best === null) continue
    let start = 0
    return best.lengths.map((n) => {
      const piece = { start, end: start + n }
      start += n
      return piece
    })
  }
  return null
}

export function layoutMetadata (pieces) {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  const group = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return { concat_group: group, concat_layout: pieces.map((p) => p.end - p.start).join(',') }
}
