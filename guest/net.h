/* The agent's network interfaces: loopback at boot, the box's NIC from CONFIG. */
#ifndef BOXLITE_NET_H
#define BOXLITE_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "message.h"

/* Brings up the loopback interface (the kernel then gives it 127.0.0.1/8). Returns 0 or -1. */
int net_up_loopback(void);

/* Loopback brought up later, once: at boot the agent asks for it (net_loopback_later) and does
 * it when it is first idle or about to start a process (net_loopback_now), which under TCG
 * hides its ~8 ms behind the host's answer to CONFIG instead of adding them to the boot. */
void net_loopback_later(void);
bool net_loopback_pending(void);
void net_loopback_now(void);
/* The kernel's state for a NIC that CONFIG will name (IPv6 off, link up) made now, when the
 * interface exists: a template's agent does, so that boxes restored from it skip that part of
 * CONFIG (docs/templates.md). Failures are logged; CONFIG then does it all. */
void net_prepare(const char *name);
/* Configures net->interface statically: address and netmask, MTU, up, and the default route
 * via net->gateway (no DHCP, no wait for a carrier). Waits up to 2 s for the interface to
 * appear. Returns 0, or -1 with err set; an interface it touched is then reset (net_reset),
 * so the same configuration may be applied afresh. */
int net_configure(const struct guest_network *net, char *err, size_t errlen);
/* Undoes net_configure: the interface goes down (the kernel then drops the routes through it)
 * and loses its address (setting 0.0.0.0 deletes it). Failures are logged. */
void net_reset(const char *name);

#endif
