export interface Payment {
  id: string;
  amount: number;
}

// charge trusts that the provider answered with a body.
export function charge(p: Payment, answer: { body?: { id: string } }): string {
  const id: string = answer.body!.id;
  return `${p.id}:${id}`;
}

export async function chargeLater(p: Payment): Promise<string> {
  await new Promise((r) => setTimeout(r, 5));
  if (p.amount > 100) {
    throw new RangeError(`amount ${p.amount} is over the limit`);
  }
  return p.id;
}
