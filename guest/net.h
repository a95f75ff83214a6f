#ifndef BOXLITE_NET_H
#define BOXLITE_NET_H

/* Brings up the loopback interface (the kernel then gives it 127.0.0.1/8). Returns 0 or -1. */
int net_up_loopback(void);

#endif
