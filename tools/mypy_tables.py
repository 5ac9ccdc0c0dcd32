"""A mypy plugin for the DataJoint idiom ``Session.insert1(row)``: a table's public methods called on the class.

``labdata.catalog.tables.table._TableMeta`` binds a public method looked up on a declared table class to a
fresh instance, so ``Session.fetch("KEY")`` is ``Session().fetch("KEY")``. Without this plugin mypy reads the
class attribute as the unbound function and takes the first argument for ``self``; with it, the attribute
has the type of the method bound to an instance.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import Decorator, FuncDef, OverloadedFuncDef, TypeInfo
from mypy.plugin import AttributeContext, Plugin
from mypy.typeops import bind_self
from mypy.typevars import fill_typevars
from mypy.types import CallableType, FunctionLike, Instance, Type, TypeType, get_proper_type

TABLE = "labdata.catalog.tables.table.Table"


def _class_of(ctx: AttributeContext) -> TypeInfo | None:
    owner = ctx.type
    if isinstance(owner, CallableType) and owner.is_type_obj():
        return owner.type_object()
    if isinstance(owner, TypeType):
        item = get_proper_type(owner.item)
        return item.type if isinstance(item, Instance) else None
    return None


def _is_instance_method(info: TypeInfo, name: str) -> bool:
    node = info.get(name)
    method = node.node if node is not None else None
    if isinstance(method, Decorator):
        if method.var.is_property:
            return False
        method = method.func
    if isinstance(method, OverloadedFuncDef):
        return not (method.is_class or method.is_static or method.is_property)
    return isinstance(method, FuncDef) and not (method.is_class or method.is_static)


def _bound_to_an_instance(name: str) -> Callable[[AttributeContext], Type]:
    def hook(ctx: AttributeContext) -> Type:
        info = _class_of(ctx)
        attribute = get_proper_type(ctx.default_attr_type)
        if (info is None or not info.has_base(TABLE) or not isinstance(attribute, FunctionLike)
                or not _is_instance_method(info, name)):
            return ctx.default_attr_type
        instance = fill_typevars(info)
        return bind_self(attribute, instance)

    return hook


class TablesPlugin(Plugin):
    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        name = fullname.rpartition(".")[2]
        if name.startswith("_") and name != "_repr_html_":
            return None
        return _bound_to_an_instance(name)


def plugin(version: str) -> type[Plugin]:
    return TablesPlugin
