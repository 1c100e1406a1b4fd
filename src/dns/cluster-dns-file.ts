/**
 * The cluster DNS records file that `pal-cluster-dns` (cluster-dns-main.ts) serves: JSON,
 * `{"options": ClusterDnsOptions, "records": ClusterDnsRecords}`, written by whoever knows the cluster
 * (the lab) and read again on SIGHUP. Parsing returns a result; every problem is reported with its path.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ClusterDnsProblem, ClusterDnsTable } from './cluster-dns.js';
import { safeBuildClusterDnsTable } from './cluster-dns.js';

const strings = z.array(z.string());
const ttl = z.number().int().min(0).max(0x7fffffff);

const FileSchema = z.strictObject({
  options: z
    .strictObject({
      clusterDomain: z.string().optional(),
      ttl: ttl.optional(),
      pods: z.enum(['insecure', 'verified']).optional(),
      zones: strings.optional(),
      serial: z.number().int().min(0).max(0xffffffff).optional(),
    })
    .optional(),
  records: z.strictObject({
    namespaces: strings.optional(),
    pods: z.array(z.strictObject({ namespace: z.string(), name: z.string(), ips: strings })).optional(),
    services: z
      .array(
        z.strictObject({
          namespace: z.string(),
          name: z.string(),
          clusterIPs: strings,
          endpoints: z.array(z.strictObject({ ips: strings, hostname: z.string().optional() })).optional(),
        }),
      )
      .optional(),
    hosts: z.array(z.strictObject({ names: strings, addresses: strings, ttl: ttl.optional() })).optional(),
  }),
});

export type ClusterDnsFile = z.infer<typeof FileSchema>;

/** Drops keys whose value is undefined, for exactOptionalPropertyTypes. */
function defined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

export function parseClusterDnsFile(
  text: string,
): { ok: true; table: ClusterDnsTable } | { ok: false; problems: readonly ClusterDnsProblem[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `not JSON: ${(err as Error).message}` }] };
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    };
  }
  const { records, options } = parsed.data;
  return safeBuildClusterDnsTable(
    {
      ...defined({ namespaces: records.namespaces, pods: records.pods }),
      ...(records.services
        ? { services: records.services.map((s) => ({ ...s, endpoints: (s.endpoints ?? []).map(defined) })) }
        : {}),
      ...(records.hosts ? { hosts: records.hosts.map(defined) } : {}),
    },
    defined(options ?? {}),
  );
}

/** `1.2.3.4:53` or `[::1]:53` (port 0: any). */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const port = Number(m[2]);
  if (isIP(m[1]) === 0 || port > 65535) return undefined;
  return { host: m[1], port };
}
