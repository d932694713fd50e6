"""Tempest's entry point for the nova-uefi-shim plugin (``tempest.test_plugins``)."""

import os

from tempest.test_discover import plugins

from nova_uefi_shim_tempest import config as shim_config


class UEFIShimTempestPlugin(plugins.TempestPlugin):
    def load_tests(self):
        base_path = os.path.split(os.path.dirname(os.path.abspath(__file__)))[0]
        test_dir = "nova_uefi_shim_tempest/tests"
        return os.path.join(base_path, test_dir), base_path

    def register_opts(self, conf):
        conf.register_group(shim_config.group)
        conf.register_opts(shim_config.opts, group=shim_config.group.name)

    def get_opt_lists(self):
        return [(shim_config.group.name, shim_config.opts)]
