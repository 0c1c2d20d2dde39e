/* The capture path of libpcap on Linux, in a static program for network_monitor_test.sh's
 * busybox app: an AF_PACKET socket bound to the monitor interface, promiscuous membership, a
 * TPACKET_V3 ring set up with setsockopt and mapped with mmap, and poll for filled blocks.
 * Usage: network_monitor_probe IFNAME FRAMES TIMEOUT_SECONDS
 * Prints one line per step ("socket ok", ...) and "captured N frames"; exits 0 once FRAMES
 * frames arrived, 1 when a step failed (with its errno) or the time ran out. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int failed(const char* step) {
  printf("%s failed: %s\n", step, strerror(errno));
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IFNAME FRAMES TIMEOUT_SECONDS\n", argv[0]);
    return 2;
  }
  const long want = atol(argv[2]);
  const time_t deadline = time(NULL) + atol(argv[3]);
  setvbuf(stdout, NULL, _IOLBF, 0);

  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) return failed("socket");
  printf("socket ok\n");
  int version = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0)
    return failed("PACKET_VERSION");
  struct tpacket_req3 req;
  memset(&req, 0, sizeof(req));
  req.tp_block_size = 1 << 16;
  req.tp_block_nr = 4;
  req.tp_frame_size = 1 << 11;
  req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
  req.tp_retire_blk_tov = 50; /* ms: hand a partly filled block over soon */
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0)
    return failed("PACKET_RX_RING");
  size_t ring_size = (size_t)req.tp_block_size * req.tp_block_nr;
  unsigned char* ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) return failed("mmap");
  printf("ring ok\n");

  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = (int)if_nametoindex(argv[1]);
  if (addr.sll_ifindex == 0) return failed("if_nametoindex");
  if (bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) return failed("bind");
  struct packet_mreq mreq;
  memset(&mreq, 0, sizeof(mreq));
  mreq.mr_ifindex = addr.sll_ifindex;
  mreq.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0)
    return failed("PACKET_ADD_MEMBERSHIP");
  printf("promiscuous ok\n");

  long frames = 0;
  unsigned block = 0;
  while (frames < want && time(NULL) < deadline) {
    struct tpacket_block_desc* desc =
        (struct tpacket_block_desc*)(ring + (size_t)block * req.tp_block_size);
    if ((desc->hdr.bh1.block_status & TP_STATUS_USER) == 0) {
      struct pollfd p = {.fd = fd, .events = POLLIN | POLLERR};
      if (poll(&p, 1, 200) < 0 && errno != EINTR) return failed("poll");
      continue;
    }
    frames += desc->hdr.bh1.num_pkts;
    desc->hdr.bh1.block_status = TP_STATUS_KERNEL;
    block = (block + 1) % req.tp_block_nr;
  }
  printf("captured %ld frames\n", frames);
  return frames >= want ? 0 : 1;
}
