"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.charge = charge;
exports.chargeLater = chargeLater;
// charge trusts that the provider answered with a body.
function charge(p, answer) {
    const id = answer.body.id;
    return `${p.id}:${id}`;
}
async function chargeLater(p) {
    await new Promise((r) => setTimeout(r, 5));
    if (p.amount > 100) {
        throw new RangeError(`amount ${p.amount} is over the limit`);
    }
    return p.id;
}
//# sourceMappingURL=pay.js.map