"""The exceptions of `nql.neptune`, named, typed and worded as Neptune 1.x's `neptune.exceptions`
(with `neptune.compat.install()`, `from neptune.exceptions import ...` finds these).

Neptune decorates some messages with terminal colours when it writes to a terminal; these are
the messages as Neptune gives them when it does not (no styles).
"""

from __future__ import annotations

__all__ = [
    "NeptuneException",
    "NeptuneWarning",
    "MetadataInconsistency",
    "MissingFieldException",
    "TypeDoesNotSupportAttributeException",
    "NeptuneInvalidQueryException",
    "MetadataContainerNotFound",
    "ProjectNotFound",
    "RunNotFound",
    "ModelNotFound",
    "NeptuneMissingProjectNameException",
    "NeptuneWrongInitParametersException",
    "NeptuneRunResumeAndCustomIdCollision",
    "NeptuneMissingRequiredInitParameter",
    "NeedExistingExperimentForReadOnlyMode",
    "NeedExistingRunForReadOnlyMode",
    "NeedExistingModelForReadOnlyMode",
    "NeptuneReadOnlyException",
]


class NeptuneException(Exception):
    """The base of Neptune's exceptions. Two are equal when of one type with one message."""

    def __eq__(self, other):
        if type(other) is type(self):
            return super().__eq__(other) and str(self).__eq__(str(other))
        return False

    def __hash__(self):
        return hash((super().__hash__(), str(self)))


class NeptuneWarning(Warning):
    """Neptune's warning category (`neptune.common.warnings.NeptuneWarning`)."""


class MetadataInconsistency(NeptuneException):
    """A value was asked of an attribute that has none to give (a file, an image series)."""


class MissingFieldException(NeptuneException, AttributeError, KeyError):
    """A field that the object does not have."""

    def __init__(self, field_path):
        self._msg = f"""

----MissingFieldException-------------------------------------------------------

The field "{field_path}" was not found.

There are two possible reasons:
    - There is a typo in the path. Double-check your code for typos.
    - You are fetching a field that another process created, but the local representation is not synchronized.
    If you are sending metadata from multiple processes at the same time, synchronize the local representation before fetching values:
        run.sync()

Need help?-> https://docs-legacy.neptune.ai/getting_help
"""
        super().__init__(self._msg)

    def __str__(self):
        return self._msg


class TypeDoesNotSupportAttributeException(NeptuneException, AttributeError):
    """A method that the field's type does not have (`fetch_values` of a float)."""

    def __init__(self, type_, attribute):
        self._msg = f"""

----TypeDoesNotSupportAttributeException----------------------------------------

{type_} has no attribute {attribute}.

Need help?-> https://docs-legacy.neptune.ai/help/error_type_does_not_support_attribute/
"""
        super().__init__(self._msg)

    def __str__(self):
        return self._msg


class NeptuneInvalidQueryException(NeptuneException):
    """The NQL query is invalid. The message is Neptune's, naming the query as Neptune would
    have sent it; `diagnostics` holds the engine's explanation with carets under the query (also
    appended to the message), and `query` the text that was checked."""

    def __init__(self, nql_query: str, diagnostics: str | None = None, query: str | None = None):
        message = f"""
The provided NQL query is invalid: {nql_query}.
For syntax help, see https://docs-legacy.neptune.ai/usage/nql/
"""
        if diagnostics:
            message += "\n" + diagnostics
        self.nql_query = nql_query
        self.diagnostics = diagnostics
        self.query = query
        super().__init__(message)


class MetadataContainerNotFound(NeptuneException):
    container_type_name = "object"

    def __init__(self, container_id: str, detail: str | None = None):
        self.container_id = container_id
        message = f"No existing {self.container_type_name} was found at {container_id}."
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class ProjectNotFound(MetadataContainerNotFound):
    container_type_name = "Project"


class RunNotFound(MetadataContainerNotFound):
    container_type_name = "Run"


class ModelNotFound(MetadataContainerNotFound):
    container_type_name = "Model"


class NeptuneMissingProjectNameException(NeptuneException):
    def __init__(self):
        super().__init__(
            """

----NeptuneMissingProjectNameException----------------------------------------

The Neptune client couldn't find your project name.

There are two options to add it:
    - specify it in your code
    - set an environment variable in your operating system.

CODE
Pass it to the init_run() function via the project argument:
    neptune.init_run(project='WORKSPACE_NAME/PROJECT_NAME')

ENVIRONMENT VARIABLE
or export or set an environment variable depending on your operating system:

    Linux/Unix
    In your terminal run:
       export NEPTUNE_PROJECT=WORKSPACE_NAME/PROJECT_NAME

    Windows
    In your CMD run:
       set NEPTUNE_PROJECT=WORKSPACE_NAME/PROJECT_NAME

and skip the project argument of the init_run() function:
    neptune.init_run()

You may also want to check the following docs pages:
    - https://docs-legacy.neptune.ai/setup/creating_project/

Need help?-> https://docs-legacy.neptune.ai/getting_help

(nql.neptune: `project` may also be the path of a project directory, a Neptune export or an
MLflow store; a WORKSPACE_NAME/PROJECT_NAME is looked up in the export whose data directory
NQL_DATA names.)
"""
        )


class NeptuneWrongInitParametersException(NeptuneException):
    pass


class NeptuneRunResumeAndCustomIdCollision(NeptuneWrongInitParametersException):
    def __init__(self):
        super().__init__(
            """

----NeptuneRunResumeAndCustomIdCollision-----------------------------------------

It's not possible to use custom_run_id while resuming a run.

The run and custom_run_id parameters of the init_run() method are mutually exclusive.
Make sure you have no NEPTUNE_CUSTOM_RUN_ID environment variable set
and no value is explicitly passed to the `custom_run_id` argument when you are resuming a run.

You may also want to check the following docs page:
    - https://docs-legacy.neptune.ai/logging/to_existing_object/
    - https://docs-legacy.neptune.ai/logging/custom_run_id/

Need help?-> https://docs-legacy.neptune.ai/getting_help
"""
        )


class NeptuneMissingRequiredInitParameter(NeptuneWrongInitParametersException):
    def __init__(self, called_function: str, parameter_name: str):
        super().__init__(
            f"""

----NeptuneMissingRequiredInitParameter---------------------------------------

neptune.{called_function}() invocation was missing {parameter_name}.
If you want to create a new object using {called_function}, {parameter_name} is required:
https://docs-legacy.neptune.ai/api/neptune#{called_function}

Need help?-> https://docs-legacy.neptune.ai/getting_help
"""
        )


class NeedExistingExperimentForReadOnlyMode(NeptuneException):
    def __init__(self, container_type: str, callback_name: str):
        self.container_type = container_type
        self.callback_name = callback_name
        super().__init__(
            f"""

----{type(self).__name__}-----------------------------------------

Read-only mode can be used only with an existing {container_type}.

Pass the ID of a {container_type} to the with_id argument of {callback_name}
when using mode="read-only".

You may also want to check the following docs pages:
    - https://docs-legacy.neptune.ai/usage/resume_run/
    - https://docs-legacy.neptune.ai/api/connection_modes/#read-only-mode

Need help?-> https://docs-legacy.neptune.ai/getting_help
"""
        )


class NeedExistingRunForReadOnlyMode(NeedExistingExperimentForReadOnlyMode):
    def __init__(self):
        super().__init__(container_type="run", callback_name="neptune.init_run")


class NeedExistingModelForReadOnlyMode(NeedExistingExperimentForReadOnlyMode):
    def __init__(self):
        super().__init__(container_type="model", callback_name="neptune.init_model")


class NeptuneReadOnlyException(NeptuneException):
    """nql.neptune only reads: an export or a store cannot be written through it (not a
    Neptune exception; raised where Neptune would have created or written an object outside
    read-only mode)."""

    def __init__(self, what: str):
        super().__init__(
            f"{what}: nql.neptune reads Neptune exports, native projects and MLflow stores and "
            "cannot write to them (in read-only mode, writes are ignored with a NeptuneWarning, "
            "as Neptune does)"
        )
