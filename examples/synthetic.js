// Example data for the examples: grey 32x32 images of a bright disc (class 1) inside a dimmer ring
// (class 2), at seeded positions. A real app passes its own pixels and label maps the same way.
export function discExample(seed, size = 32) {
  const image = new Float32Array(size * size);
  const label = new Uint8Array(size * size);
  const cx = size * (0.35 + 0.3 * ((seed * 0.37) % 1)), cy = size * (0.35 + 0.3 * ((seed * 0.61) % 1));
  for (let y = 0, i = 0; y < size; y++) {
    for (let x = 0; x < size; x++, i++) {
      const r = Math.hypot(x - cx, y - cy) / size;
      label[i] = r < 0.15 ? 1 : r < 0.28 ? 2 : 0;
      image[i] = (label[i] === 1 ? 220 : label[i] === 2 ? 130 : 40) + 15 * Math.sin(i * 0.9 + seed);
    }
  }
  return { image: { data: image, height: size, width: size }, label: { data: label, height: size, width: size } };
}

/** Dice of class c between predicted and true label maps. */
export function dice(predicted, truth, c) {
  let both = 0, p = 0, t = 0;
  for (let i = 0; i < truth.length; i++) {
    if (predicted[i] === c) p++;
    if (truth[i] === c) t++;
    if (predicted[i] === c && truth[i] === c) both++;
  }
  return p + t === 0 ? 1 : (2 * both) / (p + t);
}
