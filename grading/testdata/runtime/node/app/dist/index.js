"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
const node_http_1 = __importDefault(require("node:http"));
const pay_1 = require("./pay");
const mode = process.argv[2];
const server = node_http_1.default.createServer(async (req, res) => {
    if (mode === "caught") {
        try {
            (0, pay_1.charge)({ id: "pay_1", amount: 5 }, {});
        }
        catch (err) {
            console.error("charge failed:", err);
            res.statusCode = 500;
        }
        res.end();
        return;
    }
    if (mode === "rejection") {
        void (0, pay_1.chargeLater)({ id: "pay_2", amount: 500 });
        res.end();
        return;
    }
    // uncaught: a throw in the request handler ends the process
    const out = (0, pay_1.charge)({ id: "pay_3", amount: 5 }, {});
    res.end(out);
});
server.listen(0, () => {
    const port = server.address().port;
    node_http_1.default.get(`http://127.0.0.1:${port}/payments`, (res) => {
        res.resume();
        res.on("end", () => setTimeout(() => process.exit(0), 50));
    }).on("error", () => undefined);
});
//# sourceMappingURL=index.js.map