/**
 * `zretry acl`: prints the ACL SETUSER commands that create the
 * least-privilege Redis users of a namespace (docs/security.md). The
 * commands go to stdout, one a line, so they can be piped into redis-cli;
 * what each user is for goes to stderr.
 */
import { ConfigError } from '../errors.js';
import { aclCommands, aclRules, aclSetUserLine, aclUser, type AclRole } from '../store/acl.js';

const PURPOSE: Record<AclRole, string> = {
  worker: 'consume(), createWorker() and zretry worker',
  operator: 'zretry stats, list, show, retry-now, kill, skip, dead, unhold, pause, resume, shift, purge',
};

/** The report of `zretry acl`; role: one role, or both when undefined. */
export function aclReport(namespace: string, role: string | undefined, json: boolean): { out: string; notes: string } {
  if (role !== undefined && role !== 'worker' && role !== 'operator') throw new ConfigError(`--role must be worker or operator (got "${role}")`);
  const roles: AclRole[] = role ? [role] : ['worker', 'operator'];
  if (json) {
    const o = Object.fromEntries(roles.map((r) => [r, { user: aclUser(r, namespace), commands: aclCommands(r), rules: aclRules(r, namespace), command: aclSetUserLine(r, namespace) }]));
    return { out: JSON.stringify(o, null, 2), notes: '' };
  }
  return {
    out: roles.map((r) => aclSetUserLine(r, namespace)).join('\n'),
    notes: roles.map((r) => `zretry: ${aclUser(r, namespace)}: ${PURPOSE[r]}`).join('\n') + '\nzretry: replace <password> before running the commands (redis-cli reads them as printed, a shell too)',
  };
}
