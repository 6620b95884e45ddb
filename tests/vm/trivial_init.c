/* The baseline of tools/bench/vm.sh: the least a /init can do, power off at once. QEMU start
 * to QEMU exit with this init is the bare PVH boot that the agent's cold start is compared with. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
    reboot(RB_POWER_OFF);
    return 0;
}
