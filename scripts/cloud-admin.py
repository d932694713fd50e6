#!/usr/bin/env python3
"""The cloud's one-shot admin steps, through openstacksdk in one Python process each.

Run by scripts/cloud.sh inside the cloud's chroot, with the admin user's OS_* variables set:

  cloud-admin.py accounts PASSWORD CTL     the service project, the service users (admin and
                                           service roles), the services and their endpoints
  cloud-admin.py register IMAGE_DIR        the guest images (uploaded again when the file on disk
                                           changed) and the flavors
  cloud-admin.py service-up BINARY [HOST [SINCE]]
                                           exit 0 when Nova reports the service (on HOST) up; with
                                           SINCE (seconds since the epoch), only once it has
                                           reported in since then, up or forced down (Nova reads a
                                           forced-down service as down however alive it is)

Every step is idempotent: what exists is left as it is.
"""
import datetime
import hashlib
import os
import sys

import openstack


def conn():
    return openstack.connect(
        auth_url=os.environ["OS_AUTH_URL"],
        username=os.environ["OS_USERNAME"],
        password=os.environ["OS_PASSWORD"],
        project_name=os.environ["OS_PROJECT_NAME"],
        user_domain_name=os.environ["OS_USER_DOMAIN_NAME"],
        project_domain_name=os.environ["OS_PROJECT_DOMAIN_NAME"],
        region_name=os.environ.get("OS_REGION_NAME", "RegionOne"),
        identity_api_version="3",
    )


SERVICES = [  # name, type, port, path
    ("glance", "image", 9292, ""),
    ("placement", "placement", 8778, ""),
    ("nova", "compute", 8774, "/v2.1"),
    ("neutron", "network", 9696, ""),
]


def accounts(password, ctl):
    c = conn()
    idn = c.identity
    domain = idn.find_domain("default", ignore_missing=False)
    project = idn.find_project("service", domain_id=domain.id) or idn.create_project(
        name="service", domain_id=domain.id
    )
    roles = [r for r in (idn.find_role("admin"), idn.find_role("service")) if r]
    for name, _type, _port, _path in SERVICES:
        user = idn.find_user(name, domain_id=domain.id)
        if user:
            idn.update_user(user, password=password)
        else:
            user = idn.create_user(name=name, password=password, domain_id=domain.id)
        for role in roles:
            idn.assign_project_role_to_user(project, user, role)
    for name, stype, port, path in SERVICES:
        svc = idn.find_service(name) or idn.create_service(name=name, type=stype)
        have = {e.interface for e in idn.endpoints(service_id=svc.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idn.create_endpoint(
                    service_id=svc.id,
                    interface=interface,
                    url=f"http://{ctl}:{port}{path}",
                    region_id="RegionOne",
                )
    print("accounts: service project, users " + ", ".join(s[0] for s in SERVICES) + ", endpoints")


# What every image's guest is: a UEFI shell that ignores ACPI, so a graceful power off (stop,
# resize, migration, shelve) could only wait for Nova's 60 s default before powering it off.
# Nova reads this image property instead of [DEFAULT] shutdown_timeout, on every driver alike.
GUEST_PROPS = {"os_shutdown_timeout": "5"}

IMAGES = [  # name, file, extra properties
    ("nus-uefi", "uefi.img", {}),
    ("nus-uefi-sb", "uefi-sb.img", {"os_secure_boot": "required", "os_secure_boot_keyset": "nus-cloud"}),
    # Bad input: Secure Boot on the i440fx machine. Nova has no flavor extra spec for the machine
    # type (only the image property and [libvirt] hw_machine_type), so the image carries it.
    ("nus-uefi-sb-pc", "uefi-sb.img", {"os_secure_boot": "required", "os_secure_boot_keyset": "nus-cloud", "hw_machine_type": "pc"}),
]
FLAVORS = [  # name, vcpus, ram MiB, disk GiB, extra specs
    ("nus.small", 1, 256, 1, {}),
    ("nus.medium", 1, 320, 1, {}),
]


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def register(image_dir):
    c = conn()
    for name, fname, props in IMAGES:
        path = os.path.join(image_dir, fname)
        want = md5(path)
        meta = {"hw_firmware_type": "uefi", "hw_machine_type": "q35", **GUEST_PROPS, **props}
        existing = list(c.image.images(name=name))
        same = [i for i in existing if i.checksum == want and i.status == "active"]
        if same:
            # The same file: only properties added since it was uploaded are set (Glance's image
            # document lists every property flat).
            doc = c.image.get(f"/images/{same[0].id}").json()
            missing = {k: v for k, v in meta.items() if doc.get(k) != v}
            if missing:
                c.image.update_image(same[0], **missing)
                print(f"image {name}: set " + ", ".join(f"{k}={v}" for k, v in sorted(missing.items())))
            continue
        for old in existing:  # an image built by an older startup.nsh: replace it
            c.image.delete_image(old)
        c.image.create_image(
            name=name,
            filename=path,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            wait=True,
            allow_duplicates=True,
            meta=meta,
        )
        print(f"image {name} uploaded ({want})")
    for name, vcpus, ram, disk, specs in FLAVORS:
        flavor = c.compute.find_flavor(name)
        if not flavor:
            flavor = c.compute.create_flavor(id=name, name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
            if specs:
                c.compute.create_flavor_extra_specs(flavor, specs)
            print(f"flavor {name} created")


def service_up(binary, host=None, since=None):
    c = conn()
    query = {"binary": binary, **({"host": host} if host else {})}
    for s in c.compute.services(**query):
        seen = None
        if s.updated_at:
            seen = datetime.datetime.fromisoformat(s.updated_at).replace(tzinfo=datetime.timezone.utc).timestamp()
        # With SINCE, only a report since then counts: a restarted service reads "up" on its old
        # process's last report, while the new one is still in init_host (where nova-compute
        # puts a build scheduled to it meanwhile in ERROR, as interrupted).
        reported = not since or (seen is not None and seen > float(since))
        if s.state == "up" and reported:
            return 0
        if since and s.is_forced_down and reported:
            return 0
    return 1


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "accounts" and len(args) == 2:
        accounts(*args)
    elif cmd == "register" and len(args) == 1:
        register(*args)
    elif cmd == "service-up" and len(args) in (1, 2, 3):
        return service_up(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
