"""The GraphQL documents the proxy operators send to Dagster (see :mod:`.dagster_graphql`)."""

from __future__ import annotations

_ASSET_NODE_FIELDS = """
  assetKey { path }
  repository { name location { name } }
  metadataEntries {
    label
    ... on TextMetadataEntry { text }
    ... on JsonMetadataEntry { jsonString }
  }
"""
_RUN_FIELDS = "runId status startTime endTime tags { key value }"
_RUNS_BY_TAGS = f"""
  runsOrError(filter: {{ tags: $runTags }}) {{
    __typename
    ... on Runs {{ results {{ {_RUN_FIELDS} }} }}
    ... on Error {{ message }}
  }}
"""

ASSET_NODE_AND_RUNS_QUERY = f"""
query AirliftProxyLookup($assetKey: AssetKeyInput!, $runTags: [ExecutionTag!]) {{
  assetNodeOrError(assetKey: $assetKey) {{
    __typename
    ... on AssetNode {{ {_ASSET_NODE_FIELDS} }}
    ... on Error {{ message }}
  }}
  {_RUNS_BY_TAGS}
}}
"""

ALL_ASSET_NODES_QUERY = f"""
query AirliftProxyFindDagAsset {{
  assetNodes {{ {_ASSET_NODE_FIELDS} }}
}}
"""

RUNS_QUERY = f"""
query AirliftProxyRuns($runTags: [ExecutionTag!]) {{
  {_RUNS_BY_TAGS}
}}
"""

RUN_QUERY = f"""
query AirliftProxyRun($runId: ID!) {{
  runOrError(runId: $runId) {{
    __typename
    ... on Run {{ {_RUN_FIELDS} }}
    ... on Error {{ message }}
  }}
}}
"""

RUN_FAILURE_QUERY = """
query AirliftProxyRunFailure($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent {
          stepKey
          error { message errorChain { error { message } } }
        }
        ... on RunFailureEvent { message }
      }
    }
    ... on Error { message }
  }
}
"""

LAUNCH_RUN_MUTATION = f"""
mutation AirliftProxyLaunch($executionParams: ExecutionParams!) {{
  launchPipelineExecution(executionParams: $executionParams) {{
    __typename
    ... on LaunchRunSuccess {{ run {{ {_RUN_FIELDS} }} }}
    ... on RunConfigValidationInvalid {{ errors {{ message }} }}
    ... on Error {{ message }}
  }}
}}
"""

TERMINATE_RUN_MUTATION = """
mutation AirliftProxyTerminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on Error { message }
  }
}
"""

# A zero-code run's result observation (and its step failures, for the error when it has none), in one
# request: a run's events are few (tens), so the whole log is cheaper than a second round trip.
ZERO_CODE_RESULT_QUERY = """
query AirliftProxyZeroCodeResult($runId: ID!, $afterCursor: String) {
  logsForRun(runId: $runId, afterCursor: $afterCursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on ObservationEvent {
          assetKey { path }
          metadataEntries {
            label
            ... on TextMetadataEntry { text }
            ... on JsonMetadataEntry { jsonString }
          }
        }
        ... on ExecutionStepFailureEvent {
          stepKey
          error { message errorChain { error { message } } }
        }
      }
    }
    ... on Error { message }
  }
}
"""
