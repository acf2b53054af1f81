import http from "node:http";
import { charge, chargeLater } from "./pay";

const mode = process.argv[2];

const server = http.createServer(async (req, res) => {
  if (mode === "caught") {
    try {
      charge({ id: "pay_1", amount: 5 }, {});
    } catch (err) {
      console.error("charge failed:", err);
      res.statusCode = 500;
    }
    res.end();
    return;
  }
  if (mode === "rejection") {
    void chargeLater({ id: "pay_2", amount: 500 });
    res.end();
    return;
  }
  // uncaught: a throw in the request handler ends the process
  const out = charge({ id: "pay_3", amount: 5 }, {});
  res.end(out);
});

server.listen(0, () => {
  const port = (server.address() as { port: number }).port;
  http.get(`http://127.0.0.1:${port}/payments`, (res) => {
    res.resume();
    res.on("end", () => setTimeout(() => process.exit(0), 50));
  }).on("error", () => undefined);
});
