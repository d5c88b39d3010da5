// Host checks for outbound source fetches. Workers cannot resolve DNS, so only literal hosts and
// well-known local names can be judged here; names are confined by the allow-list instead.

type V4 = [number, number, number, number];

const V4_BLOCKED: readonly [V4, number, string][] = [
  [[0, 0, 0, 0], 8, 'this network (0.0.0.0/8)'],
  [[10, 0, 0, 0], 8, 'private (10/8)'],
  [[100, 64, 0, 0], 10, 'carrier-grade NAT (100.64/10)'],
  [[127, 0, 0, 0], 8, 'loopback (127/8)'],
  [[169, 254, 0, 0], 16, 'link-local (169.254/16)'],
  [[172, 16, 0, 0], 12, 'private (172.16/12)'],
  [[192, 0, 0, 0], 24, 'IETF protocol assignments (192.0.0/24)'],
  [[192, 0, 2, 0], 24, 'documentation (192.0.2/24)'],
  [[192, 168, 0, 0], 16, 'private (192.168/16)'],
  [[198, 18, 0, 0], 15, 'benchmarking (198.18/15)'],
  [[198, 51, 100, 0], 24, 'documentation (198.51.100/24)'],
  [[203, 0, 113, 0], 24, 'documentation (203.0.113/24)'],
  [[224, 0, 0, 0], 4, 'multicast (224/4)'],
  [[240, 0, 0, 0], 4, 'reserved (240/4, incl. broadcast)'],
];

const LOCAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/;

function parseV4(host: string): V4 | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? (parts as V4) : undefined;
}

function v4Blocked(ip: V4): string | undefined {
  const value = ((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) >>> 0;
  for (const [base, bits, why] of V4_BLOCKED) {
    const b = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((value & mask) >>> 0 === (b & mask) >>> 0) return why;
  }
  return undefined;
}

/** Parses an IPv6 literal (no brackets) into eight 16-bit groups; undefined if it is not one. */
export function parseV6(text: string): number[] | undefined {
  let host = text;
  const v4 = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(host);
  if (v4 !== null) {
    const ip = parseV4(v4[2] ?? '');
    if (ip === undefined) return undefined;
    const hi = ((ip[0] << 8) | ip[1]).toString(16);
    const lo = ((ip[2] << 8) | ip[3]).toString(16);
    host = `${v4[1] ?? ''}${hi}:${lo}`;
  }
  const halves = host.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
    return groups.map((g) => parseInt(g, 16));
  };
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (head === undefined || rest === undefined) return undefined;
  const given = head.length + rest.length;
  if (halves.length === 1 && given !== 8) return undefined;
  if (halves.length === 2 && given > 7) return undefined;
  return [...head, ...new Array<number>(8 - given).fill(0), ...rest];
}

function v6Blocked(g: number[]): string | undefined {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zeroTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(7) && g7 === 0) return 'unspecified (::)';
  if (zeroTo(7) && g7 === 1) return 'loopback (::1)';
  const embedded: V4 = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (zeroTo(5) && g5 === 0xffff) return v4Blocked(embedded) ?? undefined; // ::ffff:a.b.c.d
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) {
    // ::ffff:0:a.b.c.d, IPv4-translated (SIIT, RFC 6052/7915)
    return v4Blocked(embedded) === undefined
      ? undefined
      : 'IPv4-translated of a blocked IPv4 (::ffff:0:0/96)';
  }
  if (zeroTo(6)) return 'IPv4-compatible (::/96)';
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return v4Blocked(embedded) === undefined ? undefined : 'NAT64 of a blocked IPv4 (64:ff9b::/96)';
  }
  // Local-use NAT64 (RFC 8215): translated by the operator's own gateway, to anything.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'local-use NAT64 (64:ff9b:1::/48)';
  if (g0 === 0x2002) {
    // 6to4 embeds an IPv4 in groups 1–2: a relay would deliver to it.
    const six: V4 = [g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff];
    return v4Blocked(six) === undefined ? undefined : '6to4 of a blocked IPv4 (2002::/16)';
  }
  if (g0 === 0x2001 && g1 === 0) return 'Teredo (2001::/32)';
  if ((g0 & 0xfe00) === 0xfc00) return 'unique local (fc00::/7)';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local (fe80::/10)';
  if ((g0 & 0xffc0) === 0xfec0) return 'site-local (fec0::/10)';
  if ((g0 & 0xff00) === 0xff00) return 'multicast (ff00::/8)';
  if (g0 === 0x2001 && g1 === 0x0db8) return 'documentation (2001:db8::/32)';
  return undefined;
}

/**
 * Why a URL hostname must not be fetched (a private, loopback, link-local, CGNAT, unspecified,
 * ULA, multicast or documentation IP literal, or a local name such as `localhost`), or
 * `undefined` when it is a public literal or an ordinary name. Expects `URL.hostname`, which the
 * URL parser has already normalised (`0x7f.1` → `127.0.0.1`, IPv6 in brackets, lowercase).
 *
 * @example blockedHostReason('169.254.169.254') // 'link-local (169.254/16)'
 */
export function blockedHostReason(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return 'empty host';
  if (host.startsWith('[') && host.endsWith(']')) {
    const groups = parseV6(host.slice(1, -1).replace(/%.*$/, ''));
    return groups === undefined ? 'malformed IPv6 literal' : v6Blocked(groups);
  }
  const v4 = parseV4(host);
  if (v4 !== undefined) return v4Blocked(v4);
  if (/^[0-9.]+$/.test(host) || /^0x/.test(host)) return 'malformed IPv4 literal';
  if (LOCAL_NAMES.test(host)) return 'local name';
  return undefined;
}
