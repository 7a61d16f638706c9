// Link dataplane over libnl-route-3: see NetlinkLinks.
