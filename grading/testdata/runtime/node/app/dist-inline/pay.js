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
//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozLCJmaWxlIjoicGF5LmpzIiwic291cmNlUm9vdCI6IiIsInNvdXJjZXMiOlsiLi4vc3JjL3BheS50cyJdLCJuYW1lcyI6W10sIm1hcHBpbmdzIjoiOztBQU1BLHdCQUdDO0FBRUQsa0NBTUM7QUFaRCx3REFBd0Q7QUFDeEQsU0FBZ0IsTUFBTSxDQUFDLENBQVUsRUFBRSxNQUFpQztJQUNsRSxNQUFNLEVBQUUsR0FBVyxNQUFNLENBQUMsSUFBSyxDQUFDLEVBQUUsQ0FBQztJQUNuQyxPQUFPLEdBQUcsQ0FBQyxDQUFDLEVBQUUsSUFBSSxFQUFFLEVBQUUsQ0FBQztBQUN6QixDQUFDO0FBRU0sS0FBSyxVQUFVLFdBQVcsQ0FBQyxDQUFVO0lBQzFDLE1BQU0sSUFBSSxPQUFPLENBQUMsQ0FBQyxDQUFDLEVBQUUsRUFBRSxDQUFDLFVBQVUsQ0FBQyxDQUFDLEVBQUUsQ0FBQyxDQUFDLENBQUMsQ0FBQztJQUMzQyxJQUFJLENBQUMsQ0FBQyxNQUFNLEdBQUcsR0FBRyxFQUFFLENBQUM7UUFDbkIsTUFBTSxJQUFJLFVBQVUsQ0FBQyxVQUFVLENBQUMsQ0FBQyxNQUFNLG9CQUFvQixDQUFDLENBQUM7SUFDL0QsQ0FBQztJQUNELE9BQU8sQ0FBQyxDQUFDLEVBQUUsQ0FBQztBQUNkLENBQUMifQ==