// Money is integer cents; every percentage is rounded half to even at its own step (PRC-88).
// JavaScript numbers hold integers exactly up to 2^53, far above any cart here.

// divRound divides a non-negative integer a by b, rounding half to even.
export function divRound(a: number, b: number): number {
  const q = Math.floor(a / b);
  const twice = (a % b) * 2;
  if (twice > b || (twice === b && q % 2 !== 0)) {
    return q + 1;
  }
  return q;
}

// percent is pct % of amount, rounded half to even.
export function percent(amount: number, pct: number): number {
  return divRound(amount * pct, 100);
}
