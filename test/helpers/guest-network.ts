/** CONFIG's network for tests: the box's side of docs/network.md's topology. */
import type { GuestNetwork } from "../../src/guest-protocol/messages.ts";

export const boxNetwork: GuestNetwork = {
  interface: "eth0",
  address: "192.168.127.2",
  prefix: 24,
  gateway: "192.168.127.1",
  mtu: 1500,
  nameservers: ["192.168.127.1"],
  search: ["local"],
};
