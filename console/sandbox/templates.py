"""The files a sandbox broker starts from: ``server.properties`` and its log4j config.

Written fresh by every ``up``; they hold no secrets (SCRAM users are added at format time
and live hashed in the metadata log).
"""

from __future__ import annotations

from pathlib import Path

from console.sandbox.state import ADMIN_USER, SCRAM_MECHANISM


def server_properties(version: str, data_dir: Path, plain: int, sasl: int, controller: int) -> str:
    lines = [
        "# Written by cutover's sandbox for a throwaway loopback cluster. No secrets here:",
        "# SCRAM users were added at format time and live hashed in the metadata log.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        "listeners="
        f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},"
        f"CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}",
        "listener.security.protocol.map="
        "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        # The server side of SCRAM only needs the login module; credentials come from the
        # metadata log, so no password belongs in this file.
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        # ANONYMOUS is the broker itself on PLAINTEXT/CONTROLLER (and any PLAINTEXT client).
        f"super.users=User:{ADMIN_USER};User:ANONYMOUS",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "default.replication.factor=1",
        "offsets.topic.replication.factor=1",
        # One partition each (default 50): a fresh broker creates and loads these internal
        # topics on first use, and until then refuses commits with NOT_COORDINATOR; one
        # partition loads in well under a second where fifty took seconds on a loaded machine.
        "offsets.topic.num.partitions=1",
        "transaction.state.log.num.partitions=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        # Retention runs every second (default: every 5 minutes). On a throwaway cluster,
        # records past their topic's retention then go at once and every time, not at a
        # moment minutes later that a run hits only now and then.
        "log.retention.check.interval.ms=1000",
    ]
    if int(version.split(".")[0]) >= 4:
        lines += [
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ]
    return "\n".join(lines) + "\n"


# Kafka 3.9 logs through reload4j (log4j 1.x API); authorizer decisions get their own file
# as in the release tarball, which makes ACL denials easy to find when a test fails.
LOG4J1 = """\
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File=${kafka.logs.dir}/server.log
log4j.appender.server.MaxFileSize=20MB
log4j.appender.server.MaxBackupIndex=2
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.authorizer=org.apache.log4j.RollingFileAppender
log4j.appender.authorizer.File=${kafka.logs.dir}/authorizer.log
log4j.appender.authorizer.MaxFileSize=20MB
log4j.appender.authorizer.MaxBackupIndex=2
log4j.appender.authorizer.layout=org.apache.log4j.PatternLayout
log4j.appender.authorizer.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.authorizer.logger=INFO, authorizer
log4j.additivity.kafka.authorizer.logger=false
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

# Kafka 4.x logs through log4j2. The properties format needs no YAML parser on the path.
LOG4J2 = """\
name=cutover-sandbox
appender.server.type=RollingFile
appender.server.name=server
appender.server.fileName=${sys:kafka.logs.dir}/server.log
appender.server.filePattern=${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type=PatternLayout
appender.server.layout.pattern=[%d] %p %m (%c)%n
appender.server.policies.type=Policies
appender.server.policies.size.type=SizeBasedTriggeringPolicy
appender.server.policies.size.size=20MB
appender.server.strategy.type=DefaultRolloverStrategy
appender.server.strategy.max=2
appender.authorizer.type=RollingFile
appender.authorizer.name=authorizer
appender.authorizer.fileName=${sys:kafka.logs.dir}/authorizer.log
appender.authorizer.filePattern=${sys:kafka.logs.dir}/authorizer.log.%i
appender.authorizer.layout.type=PatternLayout
appender.authorizer.layout.pattern=[%d] %p %m (%c)%n
appender.authorizer.policies.type=Policies
appender.authorizer.policies.size.type=SizeBasedTriggeringPolicy
appender.authorizer.policies.size.size=20MB
appender.authorizer.strategy.type=DefaultRolloverStrategy
appender.authorizer.strategy.max=2
rootLogger.level=INFO
rootLogger.appenderRef.server.ref=server
logger.authorizer.name=kafka.authorizer.logger
logger.authorizer.level=INFO
logger.authorizer.additivity=false
logger.authorizer.appenderRef.authorizer.ref=authorizer
logger.request.name=kafka.request.logger
logger.request.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
"""
