// Money is integer cents. Percentages are taken in BigInt and rounded half to even, so no
// intermediate value is ever a float.

// percentOf returns amount × numerator / denominator, rounded half to even.
export function percentOf(amount: number, numerator: number, denominator: number): number {
  const n = BigInt(amount) * BigInt(numerator);
  const d = BigInt(denominator);
  let q = n / d;
  const twice = (n % d) * 2n;
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  return Number(q);
}
