/**
 * `zretry acl`: prints the ACL SETUSER commands that create the
 * least-privilege Redis users of a namespace (docs/security.md). The
 * commands go to stdout, one a line, so they can be piped into redis-cli;
 * what each user is for goes to stderr.
 */
import { ConfigError } from '../errors.js';
import { aclClusterCommand, aclCommands, aclRules, aclSetUserLine, aclUser, type AclRole } from '../store/acl.js';

const PURPOSE: Record<AclRole, string> = {
  worker: 'consume(), createWorker() and zretry worker',
  operator: 'zretry stats, list, show, retry-now, kill, skip, dead, unhold, pause, resume, shift, purge',
};

/**
 * The report of `zretry acl`; role: one role, or both when undefined.
 * clusterSeed: a Redis Cluster node (host:port); the lines are then whole
 * shell commands that apply the rules to every node of the cluster.
 */
export function aclReport(namespace: string, role: string | undefined, json: boolean, clusterSeed?: string): { out: string; notes: string } {
  if (role !== undefined && role !== 'worker' && role !== 'operator') throw new ConfigError(`--role must be worker or operator (got "${role}")`);
  const roles: AclRole[] = role ? [role] : ['worker', 'operator'];
  const cluster = clusterSeed !== undefined;
  const line = (r: AclRole) => (cluster ? aclClusterCommand(r, namespace, clusterSeed) : aclSetUserLine(r, namespace));
  if (json) {
    const o = Object.fromEntries(
      roles.map((r) => [r, { user: aclUser(r, namespace), commands: aclCommands(r, cluster), rules: aclRules(r, namespace, cluster), command: line(r) }]),
    );
    return { out: JSON.stringify(o, null, 2), notes: '' };
  }
  const how = cluster
    ? 'zretry: replace <password>, then run the lines in a shell: `redis-cli --cluster call` sets the user on every node, replicas included (add -a/--user of an admin if the cluster needs one); a node added later needs the lines again (or an aclfile)'
    : 'zretry: replace <password> before running the commands (redis-cli reads them as printed, a shell too)';
  return {
    out: roles.map(line).join('\n'),
    notes: roles.map((r) => `zretry: ${aclUser(r, namespace)}: ${PURPOSE[r]}`).join('\n') + '\n' + how,
  };
}
