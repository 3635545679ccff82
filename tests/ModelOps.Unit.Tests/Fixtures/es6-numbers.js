// Writes es6-numbers.txt: "<ieee754 bits as 16 hex digits>,<ECMAScript String(value)>" per line, the oracle for
// RFC 8785 number formatting. Deterministic: a fixed xorshift64 sequence of bit patterns plus edge cases.
// Regenerate with: node tests/ModelOps.Unit.Tests/Fixtures/es6-numbers.js > tests/ModelOps.Unit.Tests/Fixtures/es6-numbers.txt
const view = new DataView(new ArrayBuffer(8));
const lines = [];
function emit(bits) {
  view.setBigUint64(0, bits);
  const value = view.getFloat64(0);
  if (!Number.isFinite(value)) return;
  lines.push(bits.toString(16).padStart(16, "0") + "," + String(value));
}
let state = 0x9e3779b97f4a7c15n;
const mask = (1n << 64n) - 1n;
for (let i = 0; i < 5000; i++) {
  state ^= (state << 13n) & mask;
  state ^= state >> 7n;
  state ^= (state << 17n) & mask;
  emit(state);
}
// Values people write: integers, decimals, powers of ten around the layout thresholds.
for (const v of [1, -1, 0.1, 0.5, 2.5, 100, 123456789, 1e20, 1e21, 1e-6, 1e-7, 1.5e-7, 123e-20, 2 ** 53, 2 ** 53 + 2, 0.3, 1 / 3]) {
  view.setFloat64(0, v);
  emit(view.getBigUint64(0));
}
process.stdout.write(lines.join("\n") + "\n");
