# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The sidecar's wire schema takes what this Nova's object model allows.

For every field of Instance, Flavor, ImageMetaProps and Migration that the
OpenAPI schema (openapi/nova-uefi-shim.json) describes, walked from the
running Nova's ``nova.objects`` field definitions (not copied by hand): a
nullable field must accept null, and a value of the field's type (every
valid value of an enum) must be accepted. Run on each release by
``run-functional.sh --release``, so each release's own object model is
checked. Then destroy, the call that must never be refused, gets an
instance whose every field is null.
"""

import json
import os
import uuid

import jsonschema
from oslo_versionedobjects import fields

from nova import objects
from nova import test

SCHEMA_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))), 'openapi', 'nova-uefi-shim.json')

#: schema component -> Nova object class name
OBJECTS = (
    ('Instance', 'Instance'),
    ('Flavor', 'Flavor'),
    ('ImageMetaProps', 'ImageMetaProps'),
    ('Migration', 'Migration'),
)


def _samples(field):
    """Values Nova's object model allows for ``field`` (one per kind)."""
    f = field._type
    out = []
    if field.nullable:
        out.append(None)
    if isinstance(f, fields.Enum):
        out.extend(f._valid_values)
    elif isinstance(f, fields.UUID):
        out.append(str(uuid.uuid4()))
    elif isinstance(f, (fields.FlexibleBoolean, fields.Boolean)):
        out.extend([True, False])
    elif isinstance(f, fields.Integer):
        out.append(1)
    elif isinstance(f, fields.String):
        out.append('x')
    elif isinstance(f, fields.Dict):
        out.append({'k': 'v'})
        if getattr(f, '_element_type', None) is not None and \
                f._element_type.nullable:
            out.append({'k': None})
    return out


class WireSchemaTestCase(test.NoDBTestCase):

    def setUp(self):
        super(WireSchemaTestCase, self).setUp()
        objects.register_all()
        with open(SCHEMA_FILE) as f:
            self.doc = json.load(f)
        self.schemas = self.doc['components']['schemas']

    def validator(self, component):
        schema = dict(self.doc, **{'$ref': '#/components/schemas/%s' %
                                   component})
        cls = jsonschema.validators.validator_for(
            {'$schema': 'https://json-schema.org/draft/2020-12/schema'})
        return cls(schema)

    def refused(self, component, body):
        return [e.message for e in self.validator(component).iter_errors(
            body)]

    def test_every_value_novas_objects_allow_is_accepted(self):
        problems = []
        checked = 0
        for component, name in OBJECTS:
            cls = objects.base.NovaObjectRegistry.obj_classes()[name][0]
            props = self.schemas[component].get('properties', {})
            required = self.schemas[component].get('required', [])
            for fname, field in sorted(cls.fields.items()):
                if fname not in props:
                    continue
                for value in _samples(field):
                    body = {fname: value}
                    for r in required:
                        if r not in body:
                            body[r] = next(
                                (v for v in _samples(cls.fields[r])
                                 if v is not None),
                                str(uuid.uuid4())) if r in cls.fields else \
                                str(uuid.uuid4())
                    checked += 1
                    errors = self.refused(component, body)
                    if errors:
                        problems.append('%s.%s = %r (%s%s): %s' % (
                            name, fname, value, type(field._type).__name__,
                            ', nullable' if field.nullable else '',
                            errors[0]))
        self.assertGreater(checked, 20)
        self.assertEqual([], problems, '\n'.join(problems))

    def test_destroy_takes_an_instance_whose_fields_are_all_null(self):
        cls = objects.base.NovaObjectRegistry.obj_classes()['Instance'][0]
        props = self.schemas['Instance']['properties']
        # uuid and id name the instance (its domain and store)
        instance = {'uuid': str(uuid.uuid4()), 'id': 1}
        for fname, field in cls.fields.items():
            if (fname in props and field.nullable and
                    fname not in ('uuid', 'id')):
                instance[fname] = None
        for method in ('DestroyRequest', 'CleanupRequest'):
            if method not in self.schemas:
                continue
            self.assertEqual([], self.refused(
                method, {'instance': instance, 'destroy_disks': True}),
                method)
