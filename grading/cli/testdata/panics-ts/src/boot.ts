// settings reads the app's settings, and trusts a variable that is not set.
export function settings(env: NodeJS.ProcessEnv): { port: number } {
  const raw = JSON.parse(env.SETTINGS_JSON ?? "null") as { port: number } | null;
  return { port: raw!.port };
}
