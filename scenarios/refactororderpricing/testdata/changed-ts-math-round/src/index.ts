// Tea shop quote service.
import { newServer } from "./server";

const port = Number(process.env.PORT || "3000");
const server = newServer();
server.listen(port, () => console.log(`pricing listening on :${port}`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
