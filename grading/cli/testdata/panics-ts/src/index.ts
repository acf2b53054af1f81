// An app that throws at start-up in one of its own modules: the grader maps the compiled
// script's line back to src/boot.ts through the source map in the image.
import { settings } from "./boot";

console.log("listening on", settings(process.env).port);
