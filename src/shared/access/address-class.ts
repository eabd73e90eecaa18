import { BlockList, isIP } from 'node:net';

/**
 * What kind of network an IP address belongs to, for deciding whether a document may be fetched from it.
 * `public` is the internet; `private` and `loopback` are this host and its networks (allowed only when asked
 * for); `link-local` holds the cloud metadata services and `reserved` what no document server lives at —
 * neither is ever fetched from.
 */
export type AddressClass = 'public' | 'private' | 'loopback' | 'link-local' | 'reserved';

const ranges: Record<Exclude<AddressClass, 'public'>, [string, number, 'ipv4' | 'ipv6'][]> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  'link-local': [
    // 169.254.169.254 answers for the metadata service of AWS, GCP, Azure and most other clouds.
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
    // AWS's IPv6 metadata address, inside the unique-local range but never a document server.
    ['fd00:ec2::254', 128, 'ipv6'],
    // Alibaba Cloud's metadata service, inside the shared address space.
    ['100.100.100.200', 32, 'ipv4'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    // Carrier-grade NAT and Kubernetes clusters that borrow it.
    ['100.64.0.0', 10, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  reserved: [
    ['0.0.0.0', 8, 'ipv4'],
    ['192.0.0.0', 24, 'ipv4'],
    ['198.18.0.0', 15, 'ipv4'],
    ['224.0.0.0', 4, 'ipv4'],
    ['240.0.0.0', 4, 'ipv4'],
    ['::', 128, 'ipv6'],
    ['ff00::', 8, 'ipv6'],
    // NAT64 and 6to4 embed an IPv4 address that could be any of the above.
    ['64:ff9b::', 96, 'ipv6'],
    ['2002::', 16, 'ipv6'],
  ],
};

/** Checked in this order, so that a metadata address inside a private range is link-local. */
const ORDER = ['link-local', 'reserved', 'loopback', 'private'] as const;

const lists = new Map(
  ORDER.map((kind) => {
    const list = new BlockList();
    for (const [address, prefix, family] of ranges[kind]) list.addSubnet(address, prefix, family);
    return [kind, list] as const;
  }),
);

/** The class of an IP address (IPv4-mapped IPv6 addresses count as their IPv4 address); throws for a non-address. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) throw new TypeError(`not an IP address: ${address}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const kind of ORDER) if (lists.get(kind)!.check(bare, type)) return kind;
  return 'public';
}
