#!/usr/bin/env node
/**
 * `node dist/src/cni/node-pod-cidr.js NODE`: prints the node's pod CIDR (Node.spec.podCIDRs, else
 * spec.podCIDR) for the DaemonSet's CNI installer, which writes it into the conflist's IPAM range. The
 * downward API cannot give it (it exposes the pod's fields, not the node's), so it comes from the API
 * server with the pod's service account (RBAC: get nodes). Exit 1 with the reason on stderr otherwise.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** The first IPv4 pod CIDR (host-local's one range set), else the first of any family. */
export function pickPodCidr(spec: { podCIDR?: string; podCIDRs?: string[] } | undefined): string | undefined {
  const all = [...(spec?.podCIDRs ?? []), ...(spec?.podCIDR ? [spec.podCIDR] : [])];
  return all.find((c) => !c.includes(':')) ?? all[0];
}

async function main(name: string | undefined): Promise<void> {
  if (name === undefined || name === '') throw new Error('usage: node-pod-cidr.js NODE_NAME');
  const kc = new KubeConfig();
  kc.loadFromCluster();
  const node = await kc.makeApiClient(CoreV1Api).readNode({ name });
  const cidr = pickPodCidr(node.spec);
  if (cidr === undefined) {
    throw new Error(
      `node ${name} has no spec.podCIDR: run kube-controller-manager with --allocate-node-cidrs ` +
        '(kubeadm: --pod-network-cidr), or set it on the Node',
    );
  }
  process.stdout.write(`${cidr}\n`);
}

if (process.argv[1]?.endsWith('node-pod-cidr.js')) {
  main(process.argv[2]).catch((e: unknown) => {
    process.stderr.write(`node-pod-cidr: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
