// Money is integer cents; percentages are rounded to the nearest cent.

// divRound divides a by b, rounded to the nearest integer.
export function divRound(a: number, b: number): number {
  return Math.round(a / b);
}

// percent is pct % of amount, rounded to the nearest cent.
export function percent(amount: number, pct: number): number {
  return Math.round((amount * pct) / 100);
}
