"""A mypy plugin for the DataJoint idiom ``Session.insert1(row)``: a table's public methods called on the class.

``labdata.catalog.tables.table._TableMeta`` binds a public method looked up on a declared table class to a
fresh instance, so ``Session.fetch("KEY")`` is ``Session().fetch("KEY")``. Without this plugin mypy reads the
class attribute as the unbound function and takes the first argument for ``self``; with it, the attribute
has the type of the method bound to an instance (and a property, its value's); ``Session & key`` is a
``Session``.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import Decorator, FuncDef, OverloadedFuncDef, TypeInfo
from mypy.plugin import AttributeContext, MethodContext, Plugin
from mypy.typeops import bind_self
from mypy.types import CallableType, FunctionLike, Type, get_proper_type
from mypy.typevars import fill_typevars

TABLE = "labdata.catalog.tables.table.Table"


def _kind(info: TypeInfo, name: str) -> str | None:
    """"method" or "property" for what _TableMeta binds to an instance, else None."""
    node = info.get(name)
    member = node.node if node is not None else None
    if isinstance(member, Decorator):
        if member.var.is_property:
            return "property"
        member = member.func
    if isinstance(member, OverloadedFuncDef):
        if member.is_property:
            return "property"
        return None if member.is_class or member.is_static else "method"
    return "method" if isinstance(member, FuncDef) and not (member.is_class or member.is_static) else None


def _bound_to_an_instance(info: TypeInfo, name: str) -> Callable[[AttributeContext], Type]:
    def hook(ctx: AttributeContext) -> Type:
        attribute = get_proper_type(ctx.default_attr_type)
        kind = _kind(info, name)
        if kind == "property" and isinstance(attribute, CallableType):
            return attribute.ret_type
        if kind == "method" and isinstance(attribute, FunctionLike):
            return bind_self(attribute, fill_typevars(info))
        return ctx.default_attr_type

    return hook


def _an_instance_of_the_class(ctx: MethodContext) -> Type:
    """``Session & key`` and ``Session - key`` (the metaclass's operators) are a ``Session``, with its methods;
    on an instance the operator's own type stands."""
    owner = get_proper_type(ctx.type)
    if isinstance(owner, CallableType) and owner.is_type_obj():
        return fill_typevars(owner.type_object())
    return ctx.default_return_type


class TablesPlugin(Plugin):
    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        # named after the class the operator is used on: Session.__and__ for both Session & key and Session() & key
        owner, _, name = fullname.rpartition(".")
        return _an_instance_of_the_class if name in ("__and__", "__sub__") and self._is_table(owner) else None

    def _is_table(self, fullname: str) -> bool:
        symbol = self.lookup_fully_qualified(fullname)
        return symbol is not None and isinstance(symbol.node, TypeInfo) and symbol.node.has_base(TABLE)

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        if name.startswith("_") and name != "_repr_html_":
            return None
        symbol = self.lookup_fully_qualified(owner)
        if symbol is None or not isinstance(symbol.node, TypeInfo) or not symbol.node.has_base(TABLE):
            return None
        return _bound_to_an_instance(symbol.node, name)


def plugin(version: str) -> type[Plugin]:
    return TablesPlugin
