"""The plugin's own ``[uefi_shim]`` group of tempest.conf."""

from oslo_config import cfg

group = cfg.OptGroup(
    name="uefi_shim",
    title="nova-uefi-shim",
    help="Where each compute host's nova-uefi-shim sidecar answers, and what the UEFI test "
    "image writes into its variable store.",
)

opts = [
    cfg.BoolOpt(
        "enabled",
        default=False,
        help="The cloud's compute hosts run nova-uefi-shim: run this plugin's tests.",
    ),
    cfg.StrOpt(
        "compute_driver",
        default="ours",
        choices=["ours", "stock"],
        help="The driver the compute hosts run. With 'stock' (Nova's LibvirtDriver, for the "
        "comparison run) the sidecars hold no record of an instance: a store is then judged by "
        "the guest's own boot only.",
    ),
    cfg.DictOpt(
        "sidecar_endpoints",
        default={},
        help="Compute host name (as Nova's OS-EXT-SRV-ATTR:host gives it) to the base URL of "
        "that host's sidecar, e.g. cmp1:http://127.0.0.2:7780,cmp2:http://127.0.0.3:7780.",
    ),
    cfg.StrOpt(
        "sidecar_token_file",
        help="File holding the sidecar's bearer token (the [api] token of the sidecars). It must "
        "not be readable by group or others.",
    ),
    cfg.StrOpt(
        "image_ref",
        help="A UEFI image (hw_firmware_type=uefi) whose every boot prints 'NUS-BOOT begin', "
        "runs `dmpstore` on the marker variable (which prints it when the store holds it), "
        "writes the marker, and prints 'NUS-BOOT end' on the serial console. Defaults to "
        "[compute] image_ref.",
    ),
    cfg.StrOpt(
        "secure_boot_image_ref",
        help="The same image signed for Secure Boot, with os_secure_boot=required and "
        "os_secure_boot_keyset naming the key set that holds its signer.",
    ),
    cfg.StrOpt(
        "secure_boot_keyset",
        help="The key set the Secure Boot image's property names (as configured in the sidecars).",
    ),
    cfg.StrOpt(
        "secure_boot_db_subject",
        help="A text in the subject of the certificate the key set enrolls into db.",
    ),
    cfg.StrOpt("marker_name", default="NusMarker", help="The marker variable's name."),
    cfg.StrOpt(
        "marker_guid",
        default="3a7b9c1e-1111-2222-3333-444455556666",
        help="The marker variable's vendor GUID.",
    ),
    cfg.IntOpt(
        "boot_timeout",
        default=600,
        help="Seconds a guest may take from ACTIVE to the end of its boot script "
        "(software emulation on a busy host is slow).",
    ),
]
