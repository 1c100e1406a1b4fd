/**
 * The required properties of a SARIF 2.1.0 log (OASIS sarif-schema-2.1.0.json), checked by hand so the
 * tests need neither the network nor a JSON-schema dependency. Returns every violation found.
 */
type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const LEVELS = ['none', 'note', 'warning', 'error'];

export function sarifViolations(log: unknown): string[] {
  const out: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) out.push(what);
  };
  if (!isObj(log)) return ['log: not an object'];
  need(log['version'] === '2.1.0', 'log.version must be "2.1.0"');
  need(log['$schema'] === undefined || typeof log['$schema'] === 'string', 'log.$schema must be a string');
  const runs = log['runs'];
  if (!Array.isArray(runs)) return [...out, 'log.runs: required array'];
  runs.forEach((run: unknown, r) => {
    const at = `runs[${r}]`;
    if (!isObj(run)) return void out.push(`${at}: not an object`);
    const tool = run['tool'];
    const driver = isObj(tool) ? tool['driver'] : undefined;
    if (!isObj(driver)) return void out.push(`${at}.tool.driver: required object`);
    need(
      typeof driver['name'] === 'string' && driver['name'] !== '',
      `${at}.tool.driver.name: required string`,
    );
    const rules = driver['rules'] ?? [];
    if (!Array.isArray(rules)) return void out.push(`${at}.tool.driver.rules: must be an array`);
    const ids: unknown[] = rules.map((rule: unknown, i) => {
      const id = isObj(rule) ? rule['id'] : undefined;
      need(typeof id === 'string', `${at}.tool.driver.rules[${i}].id: required string`);
      return id;
    });
    need(new Set(ids).size === ids.length, `${at}.tool.driver.rules: ids must be unique`);
    const results = run['results'] ?? [];
    if (!Array.isArray(results)) return void out.push(`${at}.results: must be an array`);
    results.forEach((res: unknown, i) => {
      const rat = `${at}.results[${i}]`;
      if (!isObj(res)) return void out.push(`${rat}: not an object`);
      const msg = res['message'];
      need(
        isObj(msg) && (typeof msg['text'] === 'string' || typeof msg['id'] === 'string'),
        `${rat}.message: required, with text or id`,
      );
      const level = res['level'];
      if (level !== undefined)
        need(typeof level === 'string' && LEVELS.includes(level), `${rat}.level: ${JSON.stringify(level)}`);
      if (res['ruleIndex'] !== undefined) {
        const idx = res['ruleIndex'];
        need(
          typeof idx === 'number' && Number.isInteger(idx) && idx >= -1,
          `${rat}.ruleIndex: integer >= -1`,
        );
        if (typeof idx === 'number' && idx >= 0)
          need(ids[idx] === res['ruleId'], `${rat}.ruleIndex: rules[${idx}].id must equal ruleId`);
      }
      const locations = res['locations'] ?? [];
      if (!Array.isArray(locations)) return void out.push(`${rat}.locations: must be an array`);
      locations.forEach((loc: unknown, j) => {
        const lat = `${rat}.locations[${j}]`;
        if (!isObj(loc)) return void out.push(`${lat}: not an object`);
        const phys = loc['physicalLocation'];
        if (phys !== undefined) {
          if (!isObj(phys)) return void out.push(`${lat}.physicalLocation: not an object`);
          const art = phys['artifactLocation'];
          need(
            isObj(phys['address']) || isObj(art),
            `${lat}.physicalLocation: needs artifactLocation or address`,
          );
          if (isObj(art))
            need(typeof art['uri'] === 'string' && !/\s/.test(art['uri']), `${lat}.artifactLocation.uri`);
          const region = phys['region'];
          if (region !== undefined) {
            if (!isObj(region)) return void out.push(`${lat}.region: not an object`);
            const line = region['startLine'];
            need(
              (typeof line === 'number' && Number.isInteger(line) && line >= 1) ||
                typeof region['charOffset'] === 'number' ||
                typeof region['byteOffset'] === 'number',
              `${lat}.region: needs startLine >= 1 (or an offset)`,
            );
          }
        }
        const logical = loc['logicalLocations'] ?? [];
        need(Array.isArray(logical) && logical.every(isObj), `${lat}.logicalLocations: array of objects`);
      });
      if (res['properties'] !== undefined) need(isObj(res['properties']), `${rat}.properties: property bag`);
    });
  });
  return out;
}
