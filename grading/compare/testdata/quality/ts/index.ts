// A measurement fixture; quality_test.go counts by hand.
import http from "node:http";

/* block
   comment with if and for */
function price(qty: number, coupon?: string): number {
  let total = qty * 100;
  if (qty > 10 && coupon) {
    total -= 5; // if inside a comment does not count
  }
  const label = "if for while"; // nor inside a string
  return total > 0 ? total : 0;
}

const handler = (req: http.IncomingMessage): string => {
  for (const x of [1, 2]) {
    if (x === 2 || x === 3) {
      return "x";
    }
  }
  return "y";
};

class Cart {
  add(item: string): void {
    if (!item) {
      throw new Error("empty");
    }
  }
}
